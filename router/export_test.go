package router

// BotsIdle is closed once no assistant turn waits or runs, so tests read
// what the bot did without sleeping.
func (r *Router) BotsIdle() <-chan struct{} { return r.botsIdle() }
