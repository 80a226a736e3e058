-- A channel's head follows its messages inside SQLite: every numbered row
-- inserted raises it. An append is then one INSERT in the usual case (one
-- round trip to sqlx's worker thread and one commit) instead of a
-- transaction of five statements, and the head can never fall behind the
-- messages whoever writes them.
CREATE TRIGGER messages_raise_head AFTER INSERT ON messages
BEGIN
    INSERT INTO channels (channel, head) VALUES (NEW.channel, NEW.seq)
    ON CONFLICT (channel) DO UPDATE SET head = max(head, excluded.head);
END;
