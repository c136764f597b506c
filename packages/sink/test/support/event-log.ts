/** One ordered log of what the target and the record source did, shared by a test's doubles. */
export class EventLog {
  readonly events: string[] = [];
  push(event: string): void {
    this.events.push(event);
  }
  indexOf(event: string): number {
    return this.events.indexOf(event);
  }
  matching(prefix: string): string[] {
    return this.events.filter((e) => e.startsWith(prefix));
  }
}
