# pytest-odoo collects the test modules by file; Odoo's own runner (--test-tags) imports them here.
from . import (
    test_access,
    test_bad_input,
    test_concurrency,
    test_connection,
    test_crash_points,
    test_fault_matrix,
    test_i18n,
    test_institutions,
    test_link_wizard,
    test_secrets,
    test_sync,
    test_sync_durability,
    test_tour,
)
