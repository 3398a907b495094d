from . import (
    account_bank_statement,
    account_bank_statement_line,
    account_journal,
    ponto_account,
    ponto_connection,
    ponto_institution,
    ponto_sync,
)
