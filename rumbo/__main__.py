from rumbo.cli import main

main()
