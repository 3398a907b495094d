from . import models, wizard


def uninstall_hook(env):
    """Journals fed by Ponto go back to the manual source when the module leaves."""
    env.cr.execute(
        "UPDATE account_journal SET bank_statements_source = 'undefined'"
        " WHERE bank_statements_source = 'ponto'"
    )
