export async function enrollBench(): Promise<void> {}
