// Package inventory lists the secrets held in every store (Vault/OpenBao KV
// v2, AWS Secrets Manager, GitHub, local files) and compares them with the
// declared inventory: undeclared, missing, ownerless, overdue for rotation,
// unused, in the wrong environment. The stores are the packages under
// stores/, behind stores.Store.
package inventory
