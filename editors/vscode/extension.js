// editors/vscode/extension.js — starts `flowc lsp` for .flow files and
// connects VS Code's language client to it over stdio.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("flowc");
  const server = { command: config.get("path", "flowc"), args: ["lsp"] };
  client = new LanguageClient(
    "flowc",
    "flowc",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "flow" }, { scheme: "untitled", language: "flow" }],
      initializationOptions: { debounceMs: config.get("debounceMs", 150) },
    }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
