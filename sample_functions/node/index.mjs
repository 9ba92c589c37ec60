// A Node.js function that lambdatui runs as a custom runtime: ./bootstrap starts Node's runtime interface client,
// which loads this file (_HANDLER index.handler) and speaks the Runtime API like any Lambda runtime.
let invocations = 0; // module state survives warm invokes, as in Lambda

export const handler = async (event, context) => {
  invocations += 1;
  console.log(`invoke ${invocations}: ${JSON.stringify(event)}`);
  return { runtime: `node ${process.version}`, invocations, functionName: context.functionName, event };
};
