-- The model catalogue (bot/providers/catalogue): the input schemas the providers published when
-- the bot last read them, so a restart while a provider's API is unreachable still knows every
-- model it was offering (the shipped snapshots cover only the defaults).

CREATE TABLE model_schemas (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    document TEXT NOT NULL,      -- the snapshot-shaped JSON: version, source, price, openapi
    fetched_at REAL NOT NULL,
    PRIMARY KEY (provider, model)
);
