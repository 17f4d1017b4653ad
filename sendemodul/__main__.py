from sendemodul.cli import main

main()
