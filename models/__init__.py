from . import ponto_connection
from . import ponto_account
from . import ponto_sync
from . import ponto_institution
from . import account_journal
from . import account_bank_statement
from . import account_bank_statement_line
