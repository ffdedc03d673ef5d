"""How a request runs: its unit of work (`work`: one connection, one transaction, its audit
event) and the route class that ends that work once the answer is ready (`routing`). Every
domain's endpoints use both; docs/architecture/request.md walks through a request."""
