"""Database access shared by the services: engine, schema, migrations, stored offsets."""
