-- editors/nvim/lua/flowc.lua — flowc in Neovim: .flow files, highlighting and
-- `flowc lsp` through the built-in LSP client (Neovim 0.7 and later).
--
-- Setup, two lines in init.lua (editors/vim holds the syntax file and the
-- filetype rule, editors/nvim this module):
--   vim.opt.runtimepath:append({ "/path/to/flowc/editors/vim", "/path/to/flowc/editors/nvim" })
--   require("flowc").setup()
--
-- Options: setup({ cmd = { "flowc", "lsp" }, format_on_save = false, debounce_ms = 150 })
-- Then the usual LSP maps work: K (hover, 0.8+), gd via vim.lsp.buf.definition,
-- vim.lsp.buf.references(), vim.lsp.buf.rename(), vim.lsp.buf.format() (0.8+)
-- or vim.lsp.buf.formatting() (0.7), and <C-x><C-o> completion.
local M = {}

local function root_of(path)
  local dir = vim.fn.fnamemodify(path, ":p:h")
  local git = vim.fn.finddir(".git", dir .. ";")
  if git ~= "" then
    return vim.fn.fnamemodify(git, ":p:h:h")
  end
  return dir
end

local clients = {}   -- root directory -> client id (0.7 has no vim.lsp.start)

local function attach(opts, buf)
  local root = root_of(vim.api.nvim_buf_get_name(buf))
  local config = {
    name = "flowc",
    cmd = opts.cmd,
    root_dir = root,
    init_options = { debounceMs = opts.debounce_ms },
  }
  if vim.lsp.start then
    vim.lsp.start(config, { bufnr = buf })
  else
    local id = clients[root]
    if not id or not vim.lsp.get_client_by_id(id) then
      id = vim.lsp.start_client(config)
      clients[root] = id
    end
    if id then
      vim.lsp.buf_attach_client(buf, id)
    end
  end
  vim.bo[buf].omnifunc = "v:lua.vim.lsp.omnifunc"
  vim.bo[buf].commentstring = "# %s"
  if opts.format_on_save then
    vim.api.nvim_create_autocmd("BufWritePre", {
      buffer = buf,
      callback = function()
        if vim.lsp.buf.format then
          vim.lsp.buf.format({ bufnr = buf, name = "flowc" })
        else
          vim.lsp.buf.formatting_sync(nil, 2000)
        end
      end,
    })
  end
end

function M.setup(user)
  local opts = vim.tbl_extend("force", { cmd = { "flowc", "lsp" }, format_on_save = false, debounce_ms = 150 },
    user or {})
  if vim.filetype and vim.filetype.add then
    vim.filetype.add({ extension = { flow = "flow" } })
  else
    vim.cmd("autocmd BufRead,BufNewFile *.flow setfiletype flow")
  end
  vim.api.nvim_create_autocmd("FileType", {
    pattern = "flow",
    callback = function(args)
      attach(opts, args.buf)
    end,
  })
end

return M
