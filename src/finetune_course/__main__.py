import sys

from finetune_course.cli import main

sys.exit(main())
