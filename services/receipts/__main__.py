from services.receipts.main import main

main()
