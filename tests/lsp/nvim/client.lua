-- tests/lsp/nvim/client.lua — Neovim's built-in LSP client against `flowc lsp`.
-- Run headless: FLOWC=... FLOW_FILE=... RESULT=... nvim --headless -u NONE -c 'luafile client.lua'
-- Opens the workflow, waits for the diagnostics the server publishes, types
-- `{{person.` then `body.` into the buffer (sent as didChange by the client)
-- and asks for completion after each; writes what it got, one line each, to
-- RESULT, then stops the server and quits.
local out = assert(io.open(os.getenv("RESULT"), "w"))
local function say(s)
  out:write(s .. "\n")
  out:flush()
end

local ok, err = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("FLOW_FILE")))
  local buf = vim.api.nvim_get_current_buf()
  local id = vim.lsp.start_client({
    name = "flowc",
    cmd = { os.getenv("FLOWC"), "lsp" },
    root_dir = vim.fn.fnamemodify(os.getenv("FLOW_FILE"), ":p:h"),
    init_options = { debounceMs = 0 },
  })
  assert(id, "the client did not start")
  vim.lsp.buf_attach_client(buf, id)

  assert(vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 20), "no diagnostics came")
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    say(string.format("diagnostic %d:%d %s", d.lnum + 1, d.col + 1, d.message))
  end

  -- line 8 ends with `works with "`: type inside the string, before its quote
  local function complete(text)
    local line = vim.api.nvim_buf_get_lines(buf, 7, 8, false)[1]
    local col = #line - 1
    vim.api.nvim_buf_set_text(buf, 7, col, 7, col, { text })
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(buf) },
      position = { line = 7, character = col + #text },
    }
    local res = vim.lsp.buf_request_sync(buf, "textDocument/completion", params, 30000)
    local labels = {}
    for _, r in pairs(res or {}) do
      assert(not r.err, "completion failed: " .. vim.inspect(r.err))
      local items = r.result and (r.result.items or r.result) or {}
      for _, it in ipairs(items) do
        table.insert(labels, it.label .. " : " .. (it.detail or ""))
      end
    end
    table.sort(labels)
    for _, l in ipairs(labels) do say("after " .. text .. " " .. l) end
  end
  complete("{{person.")
  complete("body.")

  vim.lsp.stop_client(id)
  vim.wait(10000, function() return vim.lsp.get_client_by_id(id) == nil end, 20)
end)
if not ok then say("error " .. tostring(err)) end
say("done")
out:close()
vim.cmd("qa!")
