# pytest-odoo collects the test modules by file; Odoo's own runner (--test-tags) imports them here.
from . import (
    test_access,
    test_connection,
    test_institutions,
    test_link_wizard,
    test_sync,
    test_sync_durability,
)
