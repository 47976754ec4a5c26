import sys

from keystead_agent.cli import main

sys.exit(main())
