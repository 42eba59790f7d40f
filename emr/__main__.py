"""`python -m emr COMMAND`: the EMR command line without the installed console script (see emr/cli.py).

    python -m emr plan --config conf/emr.yaml      # the run's API requests as JSON, no AWS call
"""
import sys

from emr.cli import main

sys.exit(main())
