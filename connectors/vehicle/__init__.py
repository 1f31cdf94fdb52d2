"""The road-transport registry (Ministry of Transport): vehicles, transport business licences, badges."""
