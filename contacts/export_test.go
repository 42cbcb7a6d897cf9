package contacts

// CallerQuery lets the tests look at the lookup's query plan.
const CallerQuery = callerQuery
