"""What the end-to-end checks of IntegrationTests/ share: free loopback ports, processes they start,
kill and stop, readiness waits, Customer.io's webhook signature, and the Track API stand-in.
Each check imports what it needs from here instead of carrying its own copy."""
