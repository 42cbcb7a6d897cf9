-- API keys: one name per key, and an agent-role key bound to its agent.
-- Names identify keys in the list and in the logs ("api-key:crm"); two keys
-- with one name cannot be told apart when one must be revoked. Revoked keys
-- keep their names, so a name in an old log still means one key. Existing
-- duplicates are renamed "<name> #<id>" first.
-- An agent-role key acts as one agent (agent_id): its own state, pauses and
-- calls, the routes an agent's own login may use — for the agent's own
-- integrations (a CRM button, a headset's busy light).

-- +goose Up
UPDATE api_keys SET name = CONCAT(LEFT(name, 100), ' #', id)
 WHERE id NOT IN (SELECT keep_id FROM (SELECT MIN(id) AS keep_id FROM api_keys GROUP BY name) AS keep);
ALTER TABLE api_keys ADD CONSTRAINT api_keys_name_uq UNIQUE (name);
ALTER TABLE api_keys ADD COLUMN agent_id BIGINT NULL;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_agent_fk FOREIGN KEY (agent_id) REFERENCES users (id) ON DELETE CASCADE;

-- +goose Down
ALTER TABLE api_keys DROP FOREIGN KEY api_keys_agent_fk;
ALTER TABLE api_keys DROP COLUMN agent_id;
ALTER TABLE api_keys DROP INDEX api_keys_name_uq;
