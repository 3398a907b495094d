from . import ponto_link_wizard
