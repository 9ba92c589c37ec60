from lambdatui.cli import main

raise SystemExit(main())
