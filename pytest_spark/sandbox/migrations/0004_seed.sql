-- Reference data: accounts and four instruments with different grids.

INSERT INTO accounts (id, name) VALUES
    ('ACC-1', 'Alice Trading'),
    ('ACC-2', 'Bob Capital'),
    ('ACC-3', 'Carol Markets'),
    ('ACC-4', 'Dave Partners'),
    ('LOADGEN', 'Sandbox load generator');

INSERT INTO instruments (symbol, tick_size, lot_size, ref_price) VALUES
    ('BTC-USD', 0.01,    0.0001, 65000.00),
    ('ETH-USD', 0.01,    0.001,  3200.00),
    ('EUR-USD', 0.00001, 1000,   1.08500),
    ('AAPL',    0.01,    1,      190.00);
