from lambdatui.entry import main

raise SystemExit(main())
