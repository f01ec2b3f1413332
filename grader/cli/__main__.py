"""`python -m grader.cli`: the same as the `servicelab` command."""

import sys

from grader.cli.main import main

sys.exit(main())
