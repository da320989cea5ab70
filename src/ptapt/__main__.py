import sys

from ptapt.cli import main

sys.exit(main())
