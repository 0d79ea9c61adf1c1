from services.tracking.main import main

main()
