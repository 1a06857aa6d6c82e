import sys

from cifar_sweep.report.document import main

sys.exit(main())
