import sys

from medadv.cli import main

sys.exit(main())
