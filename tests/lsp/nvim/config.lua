-- tests/lsp/nvim/config.lua — the Neovim setup users get (editors/nvim,
-- editors/vim), headless: the two lines of the README, then a .flow file:
-- its filetype, its highlighting (a keyword, a C body) and flowc's
-- diagnostics through the client the setup starts. Writes what it saw to RESULT.
local out = assert(io.open(os.getenv("RESULT"), "w"))
local function say(s)
  out:write(s .. "\n")
  out:flush()
end
local ok, err = pcall(function()
  local root = os.getenv("ROOT")
  vim.opt.runtimepath:append({ root .. "/editors/vim", root .. "/editors/nvim" })
  require("flowc").setup({ cmd = { os.getenv("FLOWC"), "lsp" } })
  vim.cmd("syntax on")
  vim.cmd("filetype on")
  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("FLOW_FILE")))
  local buf = vim.api.nvim_get_current_buf()
  say("filetype " .. vim.bo[buf].filetype)
  local function group(line, col)
    return vim.fn.synIDattr(vim.fn.synID(line, col, 1), "name")
  end
  say("syntax 4:1 " .. group(4, 1))
  say("syntax 4:6 " .. group(4, 6))
  say("syntax 5:5 " .. group(5, 5))
  say("syntax 7:12 " .. group(7, 12))
  say("syntax 7:14 " .. group(7, 14))
  assert(vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 20), "no diagnostics came")
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    say(string.format("diagnostic %d:%d %s", d.lnum + 1, d.col + 1, d.message))
  end
  for _, c in pairs(vim.lsp.get_active_clients()) do
    vim.lsp.stop_client(c.id)
  end
  vim.wait(10000, function() return #vim.lsp.get_active_clients() == 0 end, 20)
end)
if not ok then say("error " .. tostring(err)) end
say("done")
out:close()
vim.cmd("qa!")
