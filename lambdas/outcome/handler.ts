// Placeholder entry so the stack synthesizes; the aggregation work replaces it.
export const handler = async (): Promise<void> => {
  throw new Error('outcome not implemented yet');
};
