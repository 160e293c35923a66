from vdispatch.cli import main

raise SystemExit(main())
