from audit_svc.server import main

main()
