from opsconductor.cli.main import main

raise SystemExit(main())
