"""Neo's own IO test-suite (BaseTestIO) run on AlfIO with generated sessions.

Neo's suite downloads its test files with datalad and skips everything when that fails; here
``setUpClass`` points it at sessions written by ``neo_alf.testing`` instead, so every inherited
test runs. ``test_list_candidate_ios`` is overridden: Neo cannot know third-party IOs until
``neo_alf.io.register()`` tells it, so the override registers first, then checks.
"""

from __future__ import annotations

import tempfile
import unittest
from pathlib import Path
from typing import ClassVar

import neo
from neo.test.iotest.common_io_test import BaseTestIO

from neo_alf import AlfIO
from neo_alf.io import register
from neo_alf.testing import make_session

PRESETS = ("tiny", "two_probes", "no_spikes", "only_spikes")


class TestAlfIOWithNeoCommonTests(BaseTestIO, unittest.TestCase):
    ioclass = AlfIO
    entities_to_download: ClassVar[list] = []
    entities_to_test: ClassVar[list] = []

    @classmethod
    def setUpClass(cls):
        # Replaces BaseTestIO.setUpClass: generated sessions instead of a datalad download.
        cls._tmp = tempfile.TemporaryDirectory()
        root = Path(cls._tmp.name)
        cls.files_to_test = [str(make_session(root / p, p).path) for p in PRESETS]
        cls.entities_to_test = list(cls.files_to_test)
        cls.local_test_dir = root
        cls.files_generated = []
        cls.default_arguments = []
        cls.default_keyword_arguments = {}
        cls.higher = cls.ioclass.supported_objects[0]
        cls.shortname = "alf"
        cls.io_readandwrite = list(set(cls.ioclass.readable_objects) & set(cls.ioclass.writeable_objects))
        cls.io_readorwrite = list(set(cls.ioclass.readable_objects) | set(cls.ioclass.writeable_objects))

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_list_candidate_ios(self):
        """Overridden: Neo only lists AlfIO once ``neo_alf.io.register()`` has been called."""
        register()
        for entity in self.entities_to_test:
            self.assertIn(AlfIO, neo.io.list_candidate_ios(entity))

    def test_the_suite_reads_real_sessions(self):
        """Guard: the inherited tests loop over files_to_test; if it were empty they would pass vacuously."""
        self.assertEqual(len(self.files_to_test), len(PRESETS))
        # return_path=True: without it Neo's iter_read_objects yields every object twice
        blocks = [obj for obj, _ in self.iter_objects(lazy=False, return_path=True)]
        self.assertEqual(len(blocks), len(PRESETS))
        self.assertGreater(sum(len(b.segments[0].spiketrains) for b in blocks), 0)
