"""``meshdiff demo``: the analysis of a breaking change on the bundled example mesh.

Exit code: 0 once the report is shown (the report's verdict is that the change blocks: unlike
``analyze``, the demo's exit code is no gate), 2 when the analysis could not be done.
"""
from __future__ import annotations

from bot.cli import inputs
from bot.cli.output import deliver
from bot.cli.parser import EXIT_ERROR, EXIT_OK
from bot.cli.progress import observer


def run(args) -> int:
    from bot.demo import examples_dir, run_demo

    examples = examples_dir(args.examples)
    cache_dir = inputs.cache_dir(args.cache_dir)
    with observer(args.quiet) as progress:
        report = run_demo(examples, cache_dir=cache_dir, progress=progress)
    deliver(report, args.format, None)
    return EXIT_ERROR if report.errors else EXIT_OK
