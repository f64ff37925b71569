"""Build hook: the wheel carries the example mesh (``examples/``) as ``bot/examples``, so that
``meshdiff demo`` works after a plain ``pip install``. Everything else is in pyproject.toml."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
#: what a copy of the example mesh leaves out: dbt's outputs and local databases
IGNORE = shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal", "__pycache__",
                                ".*", "build.sh")


class BuildWithExamples(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the repository's examples/ in place
        source, target = os.path.join(HERE, "examples"), os.path.join(self.build_lib, "bot", "examples")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=IGNORE)


setup(cmdclass={"build_py": BuildWithExamples})
