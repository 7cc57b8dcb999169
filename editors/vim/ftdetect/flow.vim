" editors/vim/ftdetect/flow.vim — .flow files are flowc workflows.
autocmd BufRead,BufNewFile *.flow setfiletype flow
