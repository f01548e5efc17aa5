{ a: error 'boom' }
