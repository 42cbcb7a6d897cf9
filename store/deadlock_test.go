package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"omnicc/store"
	"omnicc/storetest"
)

// Two transactions that lock two rows in opposite orders deadlock; InnoDB
// rolls one back with 1213. InTxRetry runs the victim again, so both end up
// committed — what the presence session writes and the write-behind flush,
// which run side by side, rely on.
func TestInTxRetryRunsADeadlockVictimAgain(t *testing.T) {
	db := storetest.MariaDB(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE lockpair (id INT PRIMARY KEY, v INT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO lockpair VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	// Each side locks its first row, waits until the other has too, then
	// goes for the other's row: a lock cycle on the first attempt only.
	var firstLocked sync.WaitGroup
	firstLocked.Add(2)
	side := func(first, second int) (attempts int, err error) {
		err = db.InTxRetry(ctx, func(tx *sqlx.Tx) error {
			attempts++
			if _, err := tx.ExecContext(ctx, `UPDATE lockpair SET v = v + 1 WHERE id = ?`, first); err != nil {
				return err
			}
			if attempts == 1 {
				firstLocked.Done()
				firstLocked.Wait()
			}
			_, err := tx.ExecContext(ctx, `UPDATE lockpair SET v = v + 1 WHERE id = ?`, second)
			return err
		})
		return attempts, err
	}
	var wg sync.WaitGroup
	var attemptsA, attemptsB int
	var errA, errB error
	wg.Go(func() { attemptsA, errA = side(1, 2) })
	wg.Go(func() { attemptsB, errB = side(2, 1) })
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("a: %v, b: %v (one of them should have been retried)", errA, errB)
	}
	if attemptsA+attemptsB != 3 {
		t.Fatalf("attempts a=%d b=%d, want one deadlock victim run twice", attemptsA, attemptsB)
	}
	var sum int
	if err := db.GetContext(ctx, &sum, `SELECT SUM(v) FROM lockpair`); err != nil {
		t.Fatal(err)
	}
	if sum != 4 {
		t.Fatalf("sum of updates = %d, want 4: both transactions committed once", sum)
	}
}

func TestIsDeadlock(t *testing.T) {
	if store.IsDeadlock(errors.New("deadlock")) || store.IsDeadlock(nil) {
		t.Fatal("IsDeadlock says yes to an error that is not MySQL's 1213")
	}
}
