// The foundation test's single activity: says which worker ran it.
export function createActivities(worker: string) {
  return {
    async stamp(label: string): Promise<string> {
      return `${label}@${worker}`;
    },
  };
}
