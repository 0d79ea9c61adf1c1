import sys

if len(sys.argv) > 1 and sys.argv[1] == "users":
    from services.web.people.cli import main as cli_main

    sys.exit(cli_main(sys.argv[2:]))

from services.web.main import main

main()
