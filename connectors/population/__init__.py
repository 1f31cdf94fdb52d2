"""The national population database (CSDLQG về dân cư): a SOAP registry of citizens."""
