from probe.entry import main

raise SystemExit(main())
