# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""The translation template holds every term the module shows, and nl, fr, de translate them all.

When a test here fails after a change of a label, message, view or field: run
`scripts/update-translations` (it regenerates the .pot and merges it into the .po files), then
translate what it lists as untranslated.
"""

import io
import os
import re
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools import translate

MODULE = "account_bank_sync_ponto"
I18N = Path(__file__).resolve().parent.parent / "i18n"
POT = I18N / f"{MODULE}.pot"
LANGUAGES = ("nl", "fr", "de")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdf]|%[sdf]|\{[a-z_]*\}")
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)")
UPDATE_HINT = "run scripts/update-translations, then translate what it lists"


@contextmanager
def _only_module_folders():
    """Odoo's term reader walks every addons folder, following symlinks, and counts every file
    under a module's folder as that module's.  A checkout holds more than the module: its .venv
    (with a symlink back to the module) and other addons (benchmarks/tmp).  Skip dot folders and
    folders holding an addon of their own below the top level of an addons folder."""
    walk = os.walk

    def module_walk(top, *args, **kwargs):
        for root, dirs, files in walk(top, *args, **kwargs):
            dirs[:] = [
                name for name in dirs
                if not name.startswith(".") and name not in ("__pycache__", "node_modules")
                and (root == top or not os.path.exists(os.path.join(root, name, "__manifest__.py")))
            ]
            yield root, dirs, files

    with patch.object(translate.os, "walk", module_walk):
        yield


def export_pot(env):
    """The module's translation template as Odoo exports it (bytes of a .pot file)."""
    buffer = io.BytesIO()
    with _only_module_folders():
        translate.trans_export(False, [MODULE], buffer, "po", env)
    return buffer.getvalue()


def _translated(entry):
    return bool(entry.msgstr) and "fuzzy" not in entry.flags


@tagged("post_install", "-at_install")
class TestTranslations(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.exported = polib.pofile(export_pot(cls.env).decode())
        cls.pot = polib.pofile(str(POT))

    def test_pot_is_up_to_date(self):
        exported = {entry.msgid for entry in self.exported}
        in_pot = {entry.msgid for entry in self.pot}
        self.assertGreater(len(exported), 100, "the export found too few terms: is the module installed?")
        missing = sorted(exported - in_pot)
        self.assertFalse(missing, f"{POT.name} misses {len(missing)} term(s) of the code ({UPDATE_HINT}): {missing}")
        stale = sorted(in_pot - exported)
        self.assertFalse(stale, f"{POT.name} holds {len(stale)} term(s) gone from the code ({UPDATE_HINT}): {stale}")

    def test_every_language_translates_every_term(self):
        for language in LANGUAGES:
            with self.subTest(language=language):
                po = polib.pofile(str(I18N / f"{language}.po"))
                translated = {entry.msgid for entry in po if _translated(entry)}
                missing = [entry.msgid for entry in self.pot if entry.msgid not in translated]
                self.assertFalse(missing, f"{language}.po leaves {len(missing)} term(s) untranslated ({UPDATE_HINT}): {missing}")
                self.assertEqual(po.metadata.get("Language"), language)

    def test_translations_keep_placeholders_and_markup(self):
        """A translation that loses a %s or a <strong> breaks the message or the view."""
        for language in LANGUAGES:
            po = polib.pofile(str(I18N / f"{language}.po"))
            for entry in po:
                if not _translated(entry):
                    continue
                with self.subTest(language=language, msgid=entry.msgid[:60]):
                    self.assertEqual(
                        Counter(PLACEHOLDER.findall(entry.msgstr)), Counter(PLACEHOLDER.findall(entry.msgid)),
                        f"{language}.po: placeholders differ in {entry.msgstr!r}",
                    )
                    self.assertEqual(
                        Counter(TAG.findall(entry.msgstr)), Counter(TAG.findall(entry.msgid)),
                        f"{language}.po: markup differs in {entry.msgstr!r}",
                    )

    def test_odoo_reads_the_translations(self):
        """Odoo's own reader accepts each file (what it loads when a language is installed)."""
        for language in LANGUAGES:
            with self.subTest(language=language), open(I18N / f"{language}.po", "rb") as source:
                rows = list(translate.PoFileReader(source))
                self.assertTrue(rows)
                self.assertTrue(all(row["value"] for row in rows))

    def test_a_french_user_reads_french(self):
        """Loaded the way Odoo loads a language: labels, selections and messages in French."""
        self.env["res.lang"]._activate_lang("fr_FR")
        importer = translate.TranslationImporter(self.env.cr, verbose=False)
        with open(I18N / "fr.po", "rb") as source:
            importer.load(source, "po", "fr_FR")
        importer.save(overwrite=True)
        self.env.invalidate_all()
        self.env.registry.clear_cache()
        Account = self.env["ponto.account"].with_context(lang="fr_FR")
        self.assertEqual(
            Account.fields_get(["sync_frequency"])["sync_frequency"]["string"], "Fréquence de synchronisation"
        )
        self.assertIn(("hourly", "Toutes les heures"), Account.fields_get(["sync_frequency"])["sync_frequency"]["selection"])
        messages = translate.code_translations.get_python_translations(MODULE, "fr_FR")
        self.assertEqual(messages.get("%s new transaction(s) imported."), "%s nouvelle(s) transaction(s) importée(s).")

