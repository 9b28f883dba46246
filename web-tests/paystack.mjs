// A stand-in for Paystack's API and its checkout page, on a loopback port: initialize a
// transaction (Bearer secret), a page where the payer pays, verify. Only what Stratus uses.
import { createServer } from "node:http";

export const SECRET = "sk_test_browser";

export async function startPaystack() {
  const transactions = new Map();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    const json = (status, body) => { res.writeHead(status, { "content-type": "application/json" }); res.end(JSON.stringify(body)); };
    const api = url.pathname.startsWith("/transaction/");
    if (api && req.headers.authorization !== `Bearer ${SECRET}`) return json(401, { status: false, message: "Invalid key" });
    if (req.method === "POST" && url.pathname === "/transaction/initialize") {
      let raw = "";
      for await (const chunk of req) raw += chunk;
      const body = JSON.parse(raw);
      transactions.set(body.reference, { ...body, amount: Number(body.amount), status: "abandoned" });
      return json(200, { status: true, message: "Authorization URL created",
        data: { authorization_url: `${base}/pay/${body.reference}`, access_code: "code", reference: body.reference } });
    }
    const verify = url.pathname.match(/^\/transaction\/verify\/(.+)$/);
    if (req.method === "GET" && verify) {
      const tx = transactions.get(decodeURIComponent(verify[1]));
      if (!tx) return json(404, { status: false, message: "Transaction reference not found" });
      return json(200, { status: true, message: "Verification successful",
        data: { reference: tx.reference, status: tx.status, amount: tx.amount, currency: tx.currency } });
    }
    // The checkout page: the payer presses "Pay", Paystack sends them back to the callback.
    const pay = url.pathname.match(/^\/pay\/([^/]+)(\/confirm)?$/);
    const tx = pay && transactions.get(pay[1]);
    if (tx && !pay[2]) {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(`<!doctype html><title>Paystack</title><h1>Pay ${(tx.amount / 100).toFixed(2)} ${tx.currency}</h1>
        <p>${tx.email}</p><a id="pay" href="/pay/${tx.reference}/confirm">Pay</a>`);
    }
    if (tx && pay[2]) {
      tx.status = "success";
      res.writeHead(302, { location: `${tx.callback_url}?trxref=${tx.reference}&reference=${tx.reference}` });
      return res.end();
    }
    json(404, { status: false, message: "not found" });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, transactions, close: () => server.close() };
}
